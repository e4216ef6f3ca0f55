/**
 * systemd socket activation (sd_listen_fds): when LISTEN_PID is this process and LISTEN_FDS is
 * N, descriptors 3 .. 3+N-1 are listening sockets systemd opened for us. As in Gunicorn, they are
 * used instead of the bind settings, and the variables are removed so that workers and the app
 * do not see them. Read once: a reload (HUP) keeps serving the same inherited sockets.
 */
export const SD_LISTEN_FDS_START = 3;

let taken: number[] | null | undefined;

/** The inherited descriptors, or null when the process was not socket-activated. */
export function systemdListenFds(env: NodeJS.ProcessEnv = process.env): number[] | null {
  if (taken !== undefined) return taken;
  const pid = Number(env.LISTEN_PID);
  const count = Number(env.LISTEN_FDS);
  if (!env.LISTEN_PID || pid !== process.pid || !Number.isInteger(count) || count <= 0) {
    taken = null;
    return taken;
  }
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  taken = Array.from({ length: count }, (_, i) => SD_LISTEN_FDS_START + i);
  return taken;
}

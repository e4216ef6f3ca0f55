// Small numeric helpers.

export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function ratio(a, b) {
  return typeof a === 'number' && typeof b === 'number' && b > 0 ? a / b : null;
}

export function fmt(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** 1234 -> "1.2k", 35210 -> "35.2k", 18 -> "18.0" */
export function fmtRate(n) {
  if (n === null || n === undefined) return '–';
  if (n >= 1000) return `${(n / 1000).toFixed(1)}k`;
  return n.toFixed(1);
}

export function fmtX(r) {
  return r === null || r === undefined ? '–' : `${r.toFixed(2)}×`;
}

export function mib(kib) {
  return kib === null || kib === undefined ? null : kib / 1024;
}

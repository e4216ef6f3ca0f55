// A factory, called with literal arguments from the command line (nothing is evaluated):
//   npx tsgunicorn 'examples/factory.js:createApp("Hi", {"exclaim": true})'
export function createApp(greeting = 'Hello', options = {}) {
  const suffix = options.exclaim ? '!' : '.';
  return (req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end(`${greeting} from a factory${suffix}\n`);
  };
}

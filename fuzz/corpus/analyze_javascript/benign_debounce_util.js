// debounce/throttle helpers and util.promisify on a local callback API.
const util = require('util');

function debounce(fn, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}
function legacy(x, cb) { setImmediate(() => cb(null, x * 2)); }
const modern = util.promisify(legacy);
modern(21).then((v) => console.log('promisified', v));
const log = debounce((m) => console.log(m), 20);
log('a'); log('b');

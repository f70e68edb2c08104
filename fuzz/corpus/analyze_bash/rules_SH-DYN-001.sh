eval "$cmd" # expect: SH-DYN-001
eval 'echo hi' # expect: SH-DYN-001
x='ls'; eval $x # expect: SH-DYN-001
source <(cat /tmp/gen.sh) # expect: SH-DYN-001
sh -c "$1" # expect: SH-DYN-001
bash -c "$(cat /tmp/cmd)" # expect: SH-DYN-001
echo eval
grep -r eval src/
bash -c 'echo hi'
source ./env.sh

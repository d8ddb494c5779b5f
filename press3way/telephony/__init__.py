"""The telephony protocols: AGI (our channel, on pyst2), AMI (a small manager client) and
Asterisk's SIGHUP."""

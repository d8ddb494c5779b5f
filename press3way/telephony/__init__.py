"""The telephony protocols: AGI (our channel, light enough for a script's first lines, with
pyst2 under it in `agiwire`), AMI (a small manager client) and Asterisk's SIGHUP."""

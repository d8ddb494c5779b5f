"""Putting the feature on a VICIdial server and keeping it right: install and uninstall, check,
the dialplan as Asterisk loads it, the feature tables' schema, and file changes that happen
all together or not at all."""

from bridge.cli.main import entry

entry()

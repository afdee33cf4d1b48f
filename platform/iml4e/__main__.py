from iml4e.cli.app import main

main()

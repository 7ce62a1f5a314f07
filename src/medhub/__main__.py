from medhub.cli import main

main()

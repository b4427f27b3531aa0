from gridledger.cli import main

main()

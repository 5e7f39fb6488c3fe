from banana.cli import main

main()

from checkstand.cli import main

main()

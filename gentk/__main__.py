from gentk.cli import main

main()

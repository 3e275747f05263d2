from kontext_preview.cli import main

main()

from dodo_mcp.cli import main

raise SystemExit(main())

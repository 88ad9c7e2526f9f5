// The `tapestry` executable: run the command line, exit with its status.

import Foundation

exit(runTapestry(Array(CommandLine.arguments.dropFirst())))

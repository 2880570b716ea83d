import { chatSuite } from "./chat.suite.ts"
import { startInProcess } from "../support/node.ts"

chatSuite("in-process, PGlite", () => startInProcess())

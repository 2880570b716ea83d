import { Redacted, Option } from "effect"
import { chatSuite } from "./chat.suite.ts"
import { freshDatabase } from "../support/freshDatabase.ts"
import { startInProcess } from "../support/node.ts"

chatSuite("in-process, PostgreSQL", async () =>
  startInProcess({ store: "postgres", postgresUrl: Option.some(Redacted.make(await freshDatabase())) })
)

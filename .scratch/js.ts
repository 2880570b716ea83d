import { JSONSchema } from "effect"
import * as Rest from "../src/protocol/rest.ts"
console.log(JSON.stringify(JSONSchema.make(Rest.CreateRoom, { target: "openApi3.1" }), null, 1).slice(0, 1500))
console.log(JSON.stringify(JSONSchema.make(Rest.HistoryQuery, { target: "openApi3.1" })))

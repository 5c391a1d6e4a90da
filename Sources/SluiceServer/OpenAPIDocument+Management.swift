import Sluice

extension OpenAPIDocument {
    /// `base` with the members of `paths` and `schemas` (JSON objects) set under `paths` and
    /// `components.schemas` (a path given here replaces the base's), and the `FieldError` response.
    static func merged(_ base: String, paths: String, schemas: String) -> String {
        // Both are literals of this module, checked by OpenAPITests: a parse failure is a programmer error.
        guard var document = try? JSONValue.parse(base).objectValue,
            let extraPaths = try? JSONValue.parse(paths).objectValue,
            let extraSchemas = try? JSONValue.parse(schemas).objectValue,
            var allPaths = document["paths"]?.objectValue,
            var components = document["components"]?.objectValue,
            var allSchemas = components["schemas"]?.objectValue,
            var responses = components["responses"]?.objectValue
        else { preconditionFailure("the OpenAPI document's literals are not JSON objects") }
        for member in extraPaths.members { allPaths[member.key] = member.value }
        for member in extraSchemas.members { allSchemas[member.key] = member.value }
        responses["FieldError"] = [
            "description":
                "Refused, with the field it is about: 422 an invalid configuration or request (the field path as the file loader names it), 400 a body that is not JSON or a bad parameter, 503 the pipeline is not running or the change is not durable.",
            "content": ["application/json": ["schema": ["$ref": "#/components/schemas/FieldError"]]],
        ]
        components["responses"] = .object(responses)
        components["schemas"] = .object(allSchemas)
        document["components"] = .object(components)
        document["paths"] = .object(allPaths)
        return JSONValue.object(document).encodedString()
    }

    static let managementSchemas = #"""
        {
          "FieldError": {
            "type": "object",
            "required": ["error"],
            "properties": {
              "error": {
                "type": "object",
                "required": ["code", "field", "message"],
                "properties": {"code": {"type": "string"}, "field": {"type": "string"}, "message": {"type": "string"}}
              }
            }
          },
          "Configuration": {
            "type": "object",
            "description": "The webhooks and triggers, as in the configuration file (docs/configuration.md); reads show secrets as <redacted>.",
            "properties": {
              "default_branch": {"type": "string"},
              "webhooks": {"type": "array", "items": {"$ref": "#/components/schemas/Webhook"}},
              "triggers": {"type": "array", "items": {"$ref": "#/components/schemas/Trigger"}}
            }
          },
          "Webhook": {"type": "object", "description": "A webhook entry as in the configuration file; shared_key, shared_keys and header values read as <redacted>.", "properties": {"name": {"type": "string"}, "url": {"type": "string"}}},
          "Trigger": {"type": "object", "description": "An explicit trigger entry as in the configuration file.", "properties": {"name": {"type": "string"}}},
          "Generation": {"type": "object", "required": ["generation"], "properties": {"generation": {"type": "integer", "minimum": 0}}},
          "DeadLetter": {
            "allOf": [
              {"$ref": "#/components/schemas/OutcomeRecord"},
              {"type": "object", "required": ["record_sequence"], "properties": {"record_sequence": {"type": "integer", "minimum": 0}}}
            ]
          }
        }
        """#

    static let managementPaths = #"""
        {
          "/api/configuration": {
            "get": {
              "summary": "The webhooks and triggers in force, secrets redacted.",
              "security": [{"bearer": []}],
              "responses": {
                "200": {"description": "The configuration; its generation is in the Sluice-Configuration-Generation header.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Configuration"}}}},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "409": {"$ref": "#/components/responses/Error"}
              }
            },
            "put": {
              "summary": "Replace every webhook and trigger; answered once the change is durable.",
              "security": [{"bearer": []}],
              "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Configuration"}}}},
              "responses": {
                "200": {"description": "Applied and durable.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Generation"}}}},
                "400": {"$ref": "#/components/responses/FieldError"},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "413": {"$ref": "#/components/responses/Error"},
                "422": {"$ref": "#/components/responses/FieldError"},
                "503": {"$ref": "#/components/responses/FieldError"}
              }
            }
          },
          "/api/webhooks": {
            "get": {
              "summary": "Every webhook, secrets redacted.",
              "security": [{"bearer": []}],
              "responses": {
                "200": {"description": "The webhooks.", "content": {"application/json": {"schema": {"type": "object", "required": ["webhooks"], "properties": {"webhooks": {"type": "array", "items": {"$ref": "#/components/schemas/Webhook"}}}}}}},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "409": {"$ref": "#/components/responses/Error"}
              }
            }
          },
          "/api/webhooks/{name}": {
            "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
            "get": {
              "summary": "One webhook, secrets redacted.",
              "security": [{"bearer": []}],
              "responses": {
                "200": {"description": "The webhook.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Webhook"}}}},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"}
              }
            },
            "put": {
              "summary": "Add or replace one webhook (a secret sent as <redacted> keeps the stored one); answered once durable.",
              "security": [{"bearer": []}],
              "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Webhook"}}}},
              "responses": {
                "200": {"description": "Replaced.", "content": {"application/json": {"schema": {"type": "object", "required": ["generation", "webhook"], "properties": {"generation": {"type": "integer"}, "webhook": {"$ref": "#/components/schemas/Webhook"}}}}}},
                "201": {"description": "Added.", "content": {"application/json": {"schema": {"type": "object", "required": ["generation", "webhook"], "properties": {"generation": {"type": "integer"}, "webhook": {"$ref": "#/components/schemas/Webhook"}}}}}},
                "400": {"$ref": "#/components/responses/FieldError"},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "422": {"$ref": "#/components/responses/FieldError"},
                "503": {"$ref": "#/components/responses/FieldError"}
              }
            },
            "delete": {
              "summary": "Remove one webhook; answered once durable.",
              "security": [{"bearer": []}],
              "responses": {
                "200": {"description": "Removed.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Generation"}}}},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"},
                "422": {"$ref": "#/components/responses/FieldError"},
                "503": {"$ref": "#/components/responses/FieldError"}
              }
            }
          },
          "/api/triggers": {
            "get": {
              "summary": "Every explicit trigger.",
              "security": [{"bearer": []}],
              "responses": {
                "200": {"description": "The triggers.", "content": {"application/json": {"schema": {"type": "object", "required": ["triggers"], "properties": {"triggers": {"type": "array", "items": {"$ref": "#/components/schemas/Trigger"}}}}}}},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "409": {"$ref": "#/components/responses/Error"}
              }
            }
          },
          "/api/triggers/{name}": {
            "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
            "get": {
              "summary": "One explicit trigger.",
              "security": [{"bearer": []}],
              "responses": {
                "200": {"description": "The trigger.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Trigger"}}}},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"}
              }
            },
            "put": {
              "summary": "Add or replace one explicit trigger; answered once durable.",
              "security": [{"bearer": []}],
              "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Trigger"}}}},
              "responses": {
                "200": {"description": "Replaced.", "content": {"application/json": {"schema": {"type": "object", "required": ["generation", "trigger"], "properties": {"generation": {"type": "integer"}, "trigger": {"$ref": "#/components/schemas/Trigger"}}}}}},
                "201": {"description": "Added.", "content": {"application/json": {"schema": {"type": "object", "required": ["generation", "trigger"], "properties": {"generation": {"type": "integer"}, "trigger": {"$ref": "#/components/schemas/Trigger"}}}}}},
                "400": {"$ref": "#/components/responses/FieldError"},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "422": {"$ref": "#/components/responses/FieldError"},
                "503": {"$ref": "#/components/responses/FieldError"}
              }
            },
            "delete": {
              "summary": "Remove one explicit trigger; answered once durable.",
              "security": [{"bearer": []}],
              "responses": {
                "200": {"description": "Removed.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Generation"}}}},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"},
                "503": {"$ref": "#/components/responses/FieldError"}
              }
            }
          },
          "/api/deadletters": {
            "get": {
              "summary": "Dead letters (pairs whose last outcome is a dead letter), read from the log, a page at a time.",
              "security": [{"bearer": []}],
              "parameters": [
                {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}},
                {"name": "after", "in": "query", "required": false, "description": "The next_after of the previous page.", "schema": {"type": "integer", "minimum": 0}},
                {"name": "webhook", "in": "query", "required": false, "schema": {"type": "string"}},
                {"name": "event_id", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"}}
              ],
              "responses": {
                "200": {
                  "description": "One page, ordered by the dead-letter record's sequence.",
                  "content": {"application/json": {"schema": {"type": "object", "required": ["dead_letters", "next_after"], "properties": {"dead_letters": {"type": "array", "items": {"$ref": "#/components/schemas/DeadLetter"}}, "next_after": {"type": ["integer", "null"]}}}}}
                },
                "400": {"$ref": "#/components/responses/FieldError"},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "500": {"$ref": "#/components/responses/Error"}
              }
            }
          },
          "/api/deadletters/redrive": {
            "post": {
              "summary": "Deliver dead letters again while running; answered once the redrive requests are durable.",
              "security": [{"bearer": []}],
              "requestBody": {
                "required": false,
                "content": {"application/json": {"schema": {"type": "object", "properties": {"webhook": {"type": "string"}, "event_id": {"type": "string", "format": "uuid"}, "limit": {"type": "integer", "minimum": 1, "maximum": 10000}}}}}
              },
              "responses": {
                "200": {"description": "Redriven.", "content": {"application/json": {"schema": {"type": "object", "required": ["redriven", "more", "skipped"], "properties": {"redriven": {"type": "integer"}, "more": {"type": "boolean"}, "skipped": {"type": "array", "items": {"type": "object"}}}}}}},
                "400": {"$ref": "#/components/responses/FieldError"},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "422": {"$ref": "#/components/responses/FieldError"},
                "500": {"$ref": "#/components/responses/Error"},
                "503": {"$ref": "#/components/responses/FieldError"}
              }
            }
          }
        }
        """#
}

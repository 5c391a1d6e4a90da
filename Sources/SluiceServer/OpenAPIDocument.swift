/// `GET /openapi.json`: every route of `sluice serve` in OpenAPI 3.1 (docs/server.md). A test validates it
/// with openapi-spec-validator and checks that every route the router registers is described.
enum OpenAPIDocument {
    /// The whole document: ``baseJSON`` with the management API's paths and schemas merged in
    /// (OpenAPIDocument+Management.swift).
    static let json = merged(baseJSON, paths: managementPaths, schemas: managementSchemas)

    static let baseJSON = #"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "Sluice",
            "version": "1",
            "description": "sluice serve: event ingest, the GitHub receiver, health and metrics (docs/server.md)."
          },
          "components": {
            "securitySchemes": {
              "bearer": {"type": "http", "scheme": "bearer", "description": "A token of server.tokens with the route's scope."}
            },
            "schemas": {
              "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                  "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
                  }
                }
              },
              "LineError": {
                "type": "object",
                "required": ["line", "byte_offset", "field", "code", "message"],
                "properties": {
                  "line": {"type": "integer", "minimum": 1},
                  "byte_offset": {"type": "integer", "minimum": 0},
                  "field": {"type": "string"},
                  "code": {"type": "string", "enum": ["invalid_json", "missing_field", "invalid_field", "limit_exceeded", "duplicate_field", "symbol_table_full", "empty_line"]},
                  "message": {"type": "string"}
                }
              },
              "IngestReply": {
                "type": "object",
                "required": ["accepted", "duplicates", "invalid", "durable", "results"],
                "properties": {
                  "accepted": {"type": "integer"},
                  "duplicates": {"type": "integer"},
                  "invalid": {"type": "integer"},
                  "durable": {"type": "boolean"},
                  "results": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "required": ["line", "status"],
                      "properties": {
                        "line": {"type": "integer", "minimum": 1},
                        "status": {"type": "string", "enum": ["accepted", "duplicate", "invalid"]},
                        "id": {"type": "string", "format": "uuid"},
                        "sequence": {"type": "integer", "minimum": 0},
                        "error": {"$ref": "#/components/schemas/LineError"}
                      }
                    }
                  }
                }
              },
              "OutcomeRecord": {
                "type": "object",
                "required": ["event_sequence", "event_id", "webhook", "webhook_id", "attempt", "outcome", "at"],
                "properties": {
                  "event_sequence": {"type": "integer"},
                  "event_id": {"type": "string"},
                  "webhook": {"type": "string"},
                  "webhook_id": {"type": "string"},
                  "attempt": {"type": "integer"},
                  "outcome": {"type": "string", "enum": ["delivered", "retrying", "dead_letter", "redrive_requested"]},
                  "status": {"type": ["integer", "null"]},
                  "failure_class": {"type": ["string", "null"]},
                  "message": {"type": ["string", "null"]},
                  "at": {"type": "string"}
                }
              },
              "GitHubReply": {
                "type": "object",
                "required": ["status"],
                "properties": {
                  "status": {"type": "string", "enum": ["accepted", "duplicate", "ignored"]},
                  "event": {"type": "string"},
                  "id": {"type": "string"},
                  "sequence": {"type": "integer"}
                }
              }
            },
            "responses": {
              "Error": {"description": "The request as a whole was refused.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "Busy": {
                "description": "The event ring is full (429) or the pipeline is stopping (503): nothing of the request was accepted.",
                "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds (server.retry_after_s)."}},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
              }
            }
          },
          "paths": {
            "/healthz": {
              "get": {
                "summary": "Liveness: the process answers HTTP.",
                "responses": {"200": {"description": "ok", "content": {"text/plain": {"schema": {"type": "string"}}}}}
              }
            },
            "/readyz": {
              "get": {
                "summary": "Readiness: the pipeline runs and takes events.",
                "responses": {
                  "200": {"description": "ready", "content": {"text/plain": {"schema": {"type": "string"}}}},
                  "503": {"description": "starting, stopping, or the log failed", "content": {"text/plain": {"schema": {"type": "string"}}}}
                }
              }
            },
            "/api/events": {
              "get": {
                "summary": "Query the stored events (docs/queries.md): Infrahub's InfrahubEvent filters plus Sluice's, streamed as NDJSON with a resumable cursor.",
                "description": "Lists repeat their parameter. Account events (infrahub.account.*) need the admin scope. Each line carries its log sequence: repeat the query with after=SEQUENCE to resume.",
                "security": [{"bearer": []}],
                "parameters": [
                  {"name": "ids", "in": "query", "schema": {"type": "array", "items": {"type": "string", "format": "uuid"}}, "style": "form", "explode": true},
                  {"name": "event_type", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true},
                  {"name": "event_type_filter.branch_merged.branches", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true},
                  {"name": "event_type_filter.branch_rebased.branches", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true},
                  {"name": "event_type_filter.group_auto_create.idp", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true},
                  {"name": "event_type_filter.group_auto_create.protocol", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true},
                  {"name": "primary_node__ids", "in": "query", "description": "A trailing * is a prefix.", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true},
                  {"name": "related_node__ids", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true},
                  {"name": "parent__ids", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true},
                  {"name": "branches", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true},
                  {"name": "account__ids", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true},
                  {"name": "level", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 2147483647}},
                  {"name": "has_children", "in": "query", "schema": {"type": "boolean"}},
                  {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                  {"name": "until", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                  {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc", "ASC", "DESC"], "default": "desc"}},
                  {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 2147483647}},
                  {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 2147483647}},
                  {"name": "after", "in": "query", "description": "Resume cursor: the sequence of the last line received.", "schema": {"type": "integer", "minimum": 0}},
                  {"name": "count", "in": "query", "schema": {"type": "boolean", "default": false}},
                  {"name": "name", "in": "query", "description": "Event-name glob.", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true},
                  {"name": "kind", "in": "query", "description": "Primary node kind.", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true},
                  {"name": "related_labels", "in": "query", "description": "A JSON object of related-resource label patterns (a trigger's match_related entry); repeat for AND.", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true}
                ],
                "responses": {
                  "200": {
                    "description": "NDJSON: one {sequence, event} per line; with count=true, {count}.",
                    "content": {
                      "application/x-ndjson": {"schema": {"type": "object", "required": ["sequence", "event"], "properties": {"sequence": {"type": "integer"}, "event": {"type": "object"}}}},
                      "application/json": {"schema": {"type": "object", "required": ["count"], "properties": {"count": {"type": "integer"}}}}
                    }
                  },
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "500": {"$ref": "#/components/responses/Error"}
                }
              },
              "post": {
                "summary": "Ingest one event (application/json) or a JSON Lines batch (application/x-ndjson).",
                "security": [{"bearer": []}],
                "parameters": [
                  {"name": "wait", "in": "query", "required": false, "schema": {"type": "string", "enum": ["durable", "accepted"], "default": "durable"}}
                ],
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/json": {"schema": {"type": "object"}},
                    "application/x-ndjson": {"schema": {"type": "string"}}
                  }
                },
                "responses": {
                  "200": {"description": "Every line accepted or duplicate.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestReply"}}}},
                  "400": {"description": "Some line invalid (the others were taken as listed), or a bad parameter.", "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/IngestReply"}, {"$ref": "#/components/schemas/Error"}]}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "408": {"$ref": "#/components/responses/Error"},
                  "413": {"$ref": "#/components/responses/Error"},
                  "415": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Busy"},
                  "500": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Busy"}
                }
              }
            },
            "/github/{source}": {
              "post": {
                "summary": "A GitHub webhook delivery, verified by X-Hub-Signature-256 against the source's secrets.",
                "parameters": [
                  {"name": "source", "in": "path", "required": true, "schema": {"type": "string"}},
                  {"name": "X-GitHub-Event", "in": "header", "required": true, "schema": {"type": "string"}},
                  {"name": "X-GitHub-Delivery", "in": "header", "required": true, "schema": {"type": "string"}},
                  {"name": "X-Hub-Signature-256", "in": "header", "required": true, "schema": {"type": "string"}}
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                  "200": {"description": "Accepted (durable) or a duplicate delivery.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GitHubReply"}}}},
                  "202": {"description": "An event type the source ignores.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GitHubReply"}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "408": {"$ref": "#/components/responses/Error"},
                  "413": {"$ref": "#/components/responses/Error"},
                  "422": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Busy"},
                  "503": {"$ref": "#/components/responses/Busy"}
                }
              }
            },
            "/metrics": {
              "get": {
                "summary": "Prometheus text format.",
                "security": [{"bearer": []}],
                "responses": {
                  "200": {"description": "The metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/api/deadletters": {
              "get": {
                "summary": "One page of the (event, webhook) pairs whose last outcome is a dead letter, read from the log.",
                "security": [{"bearer": []}],
                "parameters": [
                  {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                  {"name": "after", "in": "query", "required": false, "description": "A log sequence: the page starts after it (next_after of the previous page).", "schema": {"type": "integer", "minimum": 0}}
                ],
                "responses": {
                  "200": {
                    "description": "The dead-letter outcome records (FORMAT.md), in log order, and where the next page starts (null: none).",
                    "content": {"application/json": {"schema": {"type": "object", "required": ["dead_letters", "next_after"], "properties": {"dead_letters": {"type": "array", "items": {"$ref": "#/components/schemas/OutcomeRecord"}}, "next_after": {"type": ["integer", "null"]}}}}}
                  },
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "500": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/api/workflows/runs": {
              "get": {
                "summary": "The workflow runs in the log, one per run id (its last record; docs/workflows.md).",
                "security": [{"bearer": []}],
                "parameters": [{"name": "failed", "in": "query", "required": false, "schema": {"type": "boolean"}}],
                "responses": {
                  "200": {
                    "description": "The runs, in the order they first started (FORMAT.md \"Workflow run records\" plus first_at and records).",
                    "content": {"application/json": {"schema": {"type": "object", "required": ["runs"], "properties": {"runs": {"type": "array", "items": {"type": "object"}}}}}}
                  },
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "500": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/api/events/{id}/attempts": {
              "get": {
                "summary": "The delivery attempts of one event at every webhook, read from the log.",
                "security": [{"bearer": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "responses": {
                  "200": {
                    "description": "The event's outcome records, in log order.",
                    "content": {"application/json": {"schema": {"type": "object", "required": ["event_id", "attempts"], "properties": {"event_id": {"type": "string"}, "attempts": {"type": "array", "items": {"$ref": "#/components/schemas/OutcomeRecord"}}}}}}
                  },
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "500": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/graphql": {
              "get": {
                "summary": "GraphQL over GET (Infrahub's InfrahubEvent; docs/queries.md). WebSocket upgrades of this path carry subscriptions (graphql-transport-ws, graphql-ws).",
                "security": [{"bearer": []}],
                "parameters": [{"name": "query", "in": "query", "required": true, "schema": {"type": "string"}}, {"name": "variables", "in": "query", "required": false, "schema": {"type": "string", "description": "JSON object"}}, {"name": "operationName", "in": "query", "required": false, "schema": {"type": "string"}}],
                "responses": {
                  "200": {"description": "A GraphQL result with data and errors (GraphQL errors are in the body, not the status).", "content": {"application/json": {"schema": {"type": "object", "properties": {"data": {}, "errors": {"type": "array", "items": {"type": "object"}}}}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"}
                }
              },
              "post": {
                "summary": "GraphQL over POST (Infrahub's InfrahubEvent; docs/queries.md).",
                "security": [{"bearer": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["query"], "properties": {"query": {"type": "string"}, "variables": {"type": "object"}, "operationName": {"type": "string"}}}}}},
                "responses": {
                  "200": {"description": "A GraphQL result with data and errors (GraphQL errors are in the body, not the status).", "content": {"application/json": {"schema": {"type": "object", "properties": {"data": {}, "errors": {"type": "array", "items": {"type": "object"}}}}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/graphql/{branch}": {
              "get": {
                "summary": "GraphQL over GET (Infrahub's InfrahubEvent; docs/queries.md). WebSocket upgrades of this path carry subscriptions (graphql-transport-ws, graphql-ws).",
                "security": [{"bearer": []}],
                "parameters": [{"name": "query", "in": "query", "required": true, "schema": {"type": "string"}}, {"name": "variables", "in": "query", "required": false, "schema": {"type": "string", "description": "JSON object"}}, {"name": "operationName", "in": "query", "required": false, "schema": {"type": "string"}}, {"name": "branch", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                  "200": {"description": "A GraphQL result with data and errors (GraphQL errors are in the body, not the status).", "content": {"application/json": {"schema": {"type": "object", "properties": {"data": {}, "errors": {"type": "array", "items": {"type": "object"}}}}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"}
                }
              },
              "post": {
                "summary": "GraphQL over POST (Infrahub's InfrahubEvent; docs/queries.md).",
                "security": [{"bearer": []}],
                "parameters": [{"name": "branch", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["query"], "properties": {"query": {"type": "string"}, "variables": {"type": "object"}, "operationName": {"type": "string"}}}}}},
                "responses": {
                  "200": {"description": "A GraphQL result with data and errors (GraphQL errors are in the body, not the status).", "content": {"application/json": {"schema": {"type": "object", "properties": {"data": {}, "errors": {"type": "array", "items": {"type": "object"}}}}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/openapi.json": {
              "get": {
                "summary": "This document.",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}
              }
            }
          }
        }
        """#
}

import Hummingbird
import Sluice

extension SluiceServer {
    /// `GET /api/workflows/runs[?failed=true]` (scope `admin`): the workflow runs in the log as
    /// `{"runs":[…]}`, one per run id (docs/workflows.md "Runs in the log").
    func addWorkflowRoutes(to router: Router<BasicRequestContext>) {
        router.get("api/workflows/runs") { [self] request, _ in
            if let refusal = authorize(request, .admin) { return refusal }
            let failed = request.uri.queryParameters.get("failed") == "true"
            return await query { directory in try WorkflowRunFiles.runsJSON(directory: directory, failedOnly: failed) }
        }
    }
}

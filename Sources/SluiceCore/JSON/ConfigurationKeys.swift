/// Unknown-key checks for configuration objects: a misspelled key is an error naming the nearest valid
/// key, never silently ignored (a typo in `branch_scope` would quietly change what is delivered).
public enum ConfigurationKeys {
    /// The message for `key`, which is not one of `known`: `unknown key 'brnach_scope'; did you mean
    /// 'branch_scope'?` when a known key is near (edit distance, a swap of neighbours counting one),
    /// else the list of valid keys.
    public static func unknownKeyMessage(_ key: String, known: [String]) -> String {
        if let nearest = nearest(to: key, in: known) {
            return "unknown key '\(key)'; did you mean '\(nearest)'?"
        }
        return "unknown key '\(key)' (valid keys: \(known.sorted().joined(separator: ", ")))"
    }

    /// The first member of `object` whose key is not in `known`.
    public static func firstUnknownKey(in object: JSONObject, known: [String]) -> String? {
        object.members.first { !known.contains($0.key) }?.key
    }

    /// Throws for the first key of `object` not in `known`, at `path.key` (marked ``TriggerDefinitionError/isKey``,
    /// so a YAML error points at the key).
    public static func check(_ object: JSONObject, known: [String], path: String) throws(TriggerDefinitionError) {
        guard let key = firstUnknownKey(in: object, known: known) else { return }
        var error = TriggerDefinitionError(
            path: path.isEmpty ? key : "\(path).\(key)",
            message: unknownKeyMessage(key, known: known)
        )
        error.isKey = true
        throw error
    }

    /// The known key closest to `key`, if it is close enough to be a likely typo: at most a third of the
    /// longer name's length in edits (at least 1, at most 3), or `key` differing only in case, `-` for `_`.
    public static func nearest(to key: String, in known: [String]) -> String? {
        let normalized = String(key.lowercased().map { $0 == "-" ? "_" : $0 })
        if let same = known.first(where: { $0 == normalized }) { return same }
        var best: (key: String, distance: Int)?
        for candidate in known {
            let distance = editDistance(normalized, candidate)
            if best == nil || distance < best!.distance { best = (candidate, distance) }
        }
        guard let best else { return nil }
        let allowed = min(3, max(1, max(normalized.count, best.key.count) / 3))
        return best.distance <= allowed ? best.key : nil
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
    /// neighbouring characters each cost 1 (`brnach` → `branch` is 1).
    public static func editDistance(_ source: String, _ target: String) -> Int {
        let source = Array(source.unicodeScalars)
        let target = Array(target.unicodeScalars)
        if source.isEmpty { return target.count }
        if target.isEmpty { return source.count }
        let width = target.count + 1
        var previousPrevious = [Int](repeating: 0, count: width)
        var previous = Array(0...target.count)
        var current = [Int](repeating: 0, count: width)
        for sourceIndex in 1...source.count {
            current[0] = sourceIndex
            for targetIndex in 1...target.count {
                let cost = source[sourceIndex - 1] == target[targetIndex - 1] ? 0 : 1
                var value = min(
                    previous[targetIndex] + 1,
                    current[targetIndex - 1] + 1,
                    previous[targetIndex - 1] + cost
                )
                if sourceIndex > 1, targetIndex > 1, source[sourceIndex - 1] == target[targetIndex - 2],
                    source[sourceIndex - 2] == target[targetIndex - 1]
                {
                    value = min(value, previousPrevious[targetIndex - 2] + 1)
                }
                current[targetIndex] = value
            }
            (previousPrevious, previous, current) = (previous, current, previousPrevious)
        }
        return previous[target.count]
    }
}

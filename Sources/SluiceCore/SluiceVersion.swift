/// The version of Sluice, in one place: the `User-Agent` of webhook requests (`sluice/<version>`) and
/// `sluice --version` read it from here.
public enum SluiceVersion {
    /// Semantic version of this source tree.
    public static let current = "0.1.0"

    /// The `User-Agent` value Sluice sends unless a webhook's custom header replaces it.
    public static let userAgent = "sluice/" + current
}

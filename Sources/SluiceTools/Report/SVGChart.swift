internal import Glibc

/// A small inline-SVG line chart for the HTML report: no scripts, no external assets.
///
/// Axes map values to `0…1` through a closure, so the same drawing serves the HDR percentile plot
/// (log-scaled "nines" on x, log latency on y) and the time series (linear).
struct SVGChart {
    struct Axis {
        /// Value → position in `0…1` (clamped when drawn).
        var position: (Double) -> Double
        var ticks: [(value: Double, label: String)]
        var title: String
    }

    struct Series {
        var name: String
        var color: String
        /// Dashed, so a line drawn over another stays visible.
        var dashed = false
        var points: [(x: Double, y: Double)]
    }

    var title: String
    var xAxis: Axis
    var yAxis: Axis
    var series: [Series]
    var width = 960.0
    var height = 360.0

    static let colors = ["#1f4e9c", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d5a97"]

    /// The `<svg>` element (HTML5 inline SVG needs no namespace attribute).
    func render() -> String {
        let (left, right, top, bottom) = (78.0, 190.0, 34.0, 46.0)
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        func x(_ value: Double) -> Double { left + plotWidth * min(max(xAxis.position(value), 0), 1) }
        func y(_ value: Double) -> Double { top + plotHeight * (1 - min(max(yAxis.position(value), 0), 1)) }
        let n = Self.number
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(n(width)) \(n(height))\" role=\"img\">"
        svg += "<title>\(ReportFormat.htmlEscaped(title))</title>"
        svg += Self.text(title, x: left, y: 20, "class=\"chart-title\"")
        svg += "<rect x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(plotWidth))\" height=\"\(n(plotHeight))\""
        svg += " class=\"plot\"/>"
        for tick in xAxis.ticks {
            svg += Self.line(x(tick.value), top, x(tick.value), top + plotHeight, "class=\"grid\"")
            svg += Self.text(
                tick.label,
                x: x(tick.value),
                y: top + plotHeight + 16,
                "class=\"tick\" text-anchor=\"middle\""
            )
        }
        for tick in yAxis.ticks {
            svg += Self.line(left, y(tick.value), left + plotWidth, y(tick.value), "class=\"grid\"")
            svg += Self.text(
                tick.label,
                x: left - 6,
                y: y(tick.value),
                "class=\"tick\" text-anchor=\"end\" dominant-baseline=\"middle\""
            )
        }
        svg += Self.text(xAxis.title, x: left + plotWidth / 2, y: height - 8, "class=\"axis\" text-anchor=\"middle\"")
        let middle = n(top + plotHeight / 2)
        svg += Self.text(
            yAxis.title,
            x: 14,
            y: top + plotHeight / 2,
            "class=\"axis\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(middle))\""
        )
        for (index, line) in series.enumerated() {
            let points = line.points.map { n(x($0.x)) + "," + n(y($0.y)) }
            svg += "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\" stroke-linejoin=\"round\""
            if line.dashed { svg += " stroke-dasharray=\"6 4\"" }
            svg += " points=\"\(points.joined(separator: " "))\"/>"
            let legendY = top + 10 + Double(index) * 20
            let legendX = left + plotWidth + 16
            let dash = line.dashed ? " stroke-dasharray=\"6 4\"" : ""
            svg += Self.line(
                legendX,
                legendY,
                legendX + 22,
                legendY,
                "stroke=\"\(line.color)\" stroke-width=\"3\"\(dash)"
            )
            svg += Self.text(line.name, x: legendX + 28, y: legendY, "class=\"legend\" dominant-baseline=\"middle\"")
        }
        return svg + "</svg>"
    }

    static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ attributes: String) -> String {
        "<line x1=\"\(number(x1))\" y1=\"\(number(y1))\" x2=\"\(number(x2))\" y2=\"\(number(y2))\" \(attributes)/>"
    }

    static func text(_ content: String, x: Double, y: Double, _ attributes: String) -> String {
        "<text x=\"\(number(x))\" y=\"\(number(y))\" \(attributes)>\(ReportFormat.htmlEscaped(content))</text>"
    }

    /// Coordinates with one decimal.
    static func number(_ value: Double) -> String { ReportFormat.fixed(value, decimals: 1) }

    // MARK: Axes

    /// HDR "nines" axis: `percentile` → log10(1 / (1 - p)), from 0% to 99.99%.
    static func percentileAxis() -> Axis {
        let nines = 4.0
        return Axis(
            position: { percentile in
                let fraction = min(percentile, 99.99) / 100
                return -((1 - fraction).log10) / nines
            },
            ticks: [(0, "0%"), (90, "90%"), (99, "99%"), (99.9, "99.9%"), (99.99, "99.99%")],
            title: "percentile"
        )
    }

    /// Log10 latency axis spanning whole decades around `[low, high]` nanoseconds.
    static func latencyAxis(lowNanoseconds: UInt64, highNanoseconds: UInt64) -> Axis {
        let lowDecade = Int(Double(max(lowNanoseconds, 1)).log10.rounded(.down))
        let highDecade = max(lowDecade + 1, Int(Double(max(highNanoseconds, 1)).log10.rounded(.up)))
        let span = Double(highDecade - lowDecade)
        var ticks: [(value: Double, label: String)] = []
        var power: UInt64 = 1
        for decade in 0...highDecade {
            if decade >= lowDecade { ticks.append((Double(power), ReportFormat.latencyTick(power))) }
            power = power.multipliedReportingOverflow(by: 10).partialValue
        }
        return Axis(
            position: { value in (Double(max(value, 1)).log10 - Double(lowDecade)) / span },
            ticks: ticks,
            title: "latency (log scale)"
        )
    }

    /// Linear axis from 0 to a "nice" bound above `high`, about five ticks, labelled by `label`.
    static func linearAxis(high: Double, title: String, label: (Double) -> String) -> Axis {
        let step = niceStep(max(high, 1) / 5)
        let top = max(step, (max(high, 1) / step).rounded(.up) * step)
        let ticks = stride(from: 0.0, through: top + step / 2, by: step).map { ($0, label($0)) }
        return Axis(position: { $0 / top }, ticks: ticks, title: title)
    }

    /// 1, 2 or 5 × 10ⁿ at or above `raw`.
    static func niceStep(_ raw: Double) -> Double {
        var magnitude = 1.0
        while magnitude * 10 <= raw { magnitude *= 10 }
        while magnitude > raw && magnitude > 1 { magnitude /= 10 }
        for factor in [1.0, 2.0, 5.0, 10.0] where factor * magnitude >= raw { return factor * magnitude }
        return 10 * magnitude
    }
}

extension Double {
    /// Base-10 logarithm (Glibc `log10`).
    fileprivate var log10: Double { Glibc.log10(self) }
}

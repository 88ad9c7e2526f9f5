import Tapestry
import TapestryTestSupport
import Testing

private struct Affine: Layer {
  var weight = Parameter(randomTensor([3, 2], seed: 1))
  var bias = Parameter(Tensor<Double>.zeros([2]))
  func callAsFunction(_ x: Tensor<Double>) -> Tensor<Double> {
    matmul(x, weight.value) + bias.value
  }
}

private struct Stack: Layer {
  var layers = [Affine(), Affine()]
  var head: Affine? = Affine()
  var missing: Affine? = nil
  var reservoir = Parameter(randomTensor([2, 2], seed: 9), isFrozen: true)
  func callAsFunction(_ x: Tensor<Double>) -> Tensor<Double> {
    let first = tanh(layers[0](x))
    return matmul(first, reservoir.value).sum(alongAxis: 1, keepingDims: true) * first
  }
}

/// A model held entirely inline (structs, optionals, plain values, a constant tensor): its
/// parameters are read at fixed offsets rather than with `Mirror`.
private struct InlineModel {
  struct Gate {
    var weight = Parameter(randomTensor([2, 2], seed: 3))
    var peephole: Parameter<Double>? = nil
    var width = 2
  }
  var first = Gate()
  var second = Gate(peephole: Parameter(Tensor<Double>.ones([2])))
  var scale: Double = 0.5
  var label = "inline"
  var mask = Tensor<Double>.ones([2])
  var shared: Parameter<Double>
  var other: Parameter<Float> = Parameter(Tensor<Float>.zeros([1]))
  init() { shared = first.weight }
}

/// The same parameters, one reachable only through a dictionary: no fixed layout.
private struct DictionaryModel {
  var first = InlineModel.Gate()
  var extra = ["z": InlineModel.Gate(), "a": InlineModel.Gate()]
}

/// A model with a `weak` parameter reference: not a strong reference to read from its bytes.
private struct WeakReferenceModel {
  var weight = Parameter(randomTensor([2, 2], seed: 6))
  weak var tied: Parameter<Double>?
}

@Suite("Parameters found by reflection")
struct ParameterTests {
  @Test func namesFollowPropertiesAndIndices() {
    let model = Stack()
    let names = namedParameters(of: model, as: Double.self).map(\.name)
    #expect(
      names == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "head.weight",
        "head.bias", "reservoir",
      ])
    #expect(trainableParameters(of: model, as: Double.self).count == 6)
    #expect(namedParameters(of: model, as: Float.self).isEmpty)
  }

  @Test func inlineModelIsNamedAsTheMirrorWalkNamesIt() {
    let model = InlineModel()
    let found = namedParameters(of: model, as: Double.self)
    #expect(found.map(\.name) == ["first.weight", "second.weight", "second.peephole"])
    #expect(found[0].parameter === model.first.weight)
    #expect(found[2].parameter === model.second.peephole)
    #expect(namedParameters(of: model, as: Float.self).map(\.name) == ["other"])
    // A second call reads the layout computed by the first, from a different value.
    var changed = model
    changed.first.peephole = Parameter(Tensor<Double>.zeros([2]))
    #expect(
      namedParameters(of: changed, as: Double.self).map(\.name) == [
        "first.weight", "first.peephole", "second.weight", "second.peephole",
      ])
    let nested = namedParameters(of: DictionaryModel(), as: Double.self).map(\.name)
    #expect(nested == ["first.weight", "extra.a.weight", "extra.z.weight"])
    let kept = Parameter(Tensor<Double>.ones([2]))
    var weak = WeakReferenceModel()
    weak.tied = kept
    let tied = namedParameters(of: weak, as: Double.self)
    #expect(tied.map(\.name) == ["weight", "tied"])
    #expect(tied.last?.parameter === kept)
  }

  @Test func sharedParameterIsListedOnce() {
    let shared = Affine()
    let names = namedParameters(of: [shared, shared], as: Double.self).map(\.name)
    #expect(names == ["0.weight", "0.bias"])
  }

  @Test func modelGradientByNameMatchesFiniteDifferencesAndLeavesModelUnchanged() {
    let model = Stack()
    let x = randomTensor([4, 3], seed: 5)
    let before = namedParameters(of: model, as: Double.self).map(\.parameter.value)
    let (value, grads) = valueWithGradient(at: model) { model in (model(x) * model(x)).mean() }
    #expect(value.count == 1)
    #expect(grads.names == trainableParameters(of: model, as: Double.self).map(\.name))
    #expect(grads["reservoir"] == nil)
    #expect(grads["layers.1.weight"] == Tensor.zeros([3, 2]))
    let after = namedParameters(of: model, as: Double.self).map(\.parameter.value)
    #expect(before == after && after.allSatisfy { !$0.isRecorded })
    let weight = model.layers[0].weight
    let report = checkGradient(at: weight.value) { w in
      weight.value = w
      defer { weight.value = before[0] }
      return (model(x) * model(x)).mean()
    }
    #expect(report.passes())
    expectClose(grads["layers.0.weight"] ?? Tensor.zeros([1]), report.analytic[0])
  }
}

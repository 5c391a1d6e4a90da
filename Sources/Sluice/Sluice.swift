@_exported public import SluiceCore
@_exported public import SluiceCrypto
@_exported public import SluiceStorage
@_exported public import SluiceSystem

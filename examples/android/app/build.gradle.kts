plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "com.example.kerasvit"
    compileSdk = 35

    defaultConfig {
        applicationId = "com.example.kerasvit"
        minSdk = 28 // ImageDecoder
        targetSdk = 35
        versionCode = 1
        versionName = "1.0"
    }

    // MediaPipe maps the model from the APK: it must be stored uncompressed.
    androidResources {
        noCompress += "tflite"
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
}

dependencies {
    // MediaPipe Tasks vision: ImageClassifier reads the model's metadata (normalization, labels).
    implementation("com.google.mediapipe:tasks-vision:0.10.21")
    implementation("androidx.appcompat:appcompat:1.7.0")
    implementation("androidx.activity:activity-ktx:1.9.3")
}

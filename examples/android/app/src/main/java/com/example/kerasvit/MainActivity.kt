package com.example.kerasvit

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.ImageDecoder
import android.os.Bundle
import android.widget.Button
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.TextView
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import com.google.mediapipe.framework.image.BitmapImageBuilder
import com.google.mediapipe.tasks.core.BaseOptions
import com.google.mediapipe.tasks.vision.core.RunningMode
import com.google.mediapipe.tasks.vision.imageclassifier.ImageClassifier

/**
 * Classifies a picture with a keras-vit `.tflite` through MediaPipe Tasks' ImageClassifier and
 * shows the top result.
 *
 * The file is used exactly as `keras-vit train --export` / `keras-vit export` wrote it: its
 * metadata tells MediaPipe how to normalize the pixels and names the classes (labels.txt inside
 * the file), so there is no pre- or post-processing code here. MediaPipe resizes the picture to
 * the model's input size itself.
 */
class MainActivity : AppCompatActivity() {

    private lateinit var classifier: ImageClassifier
    private lateinit var picture: ImageView
    private lateinit var result: TextView

    private val pick = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        if (uri != null) {
            // A software bitmap: MediaPipe reads the pixels on the CPU.
            val source = ImageDecoder.createSource(contentResolver, uri)
            classify(ImageDecoder.decodeBitmap(source) { decoder, _, _ ->
                decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
            })
        }
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val options = ImageClassifier.ImageClassifierOptions.builder()
            .setBaseOptions(BaseOptions.builder().setModelAssetPath(MODEL_ASSET).build())
            .setRunningMode(RunningMode.IMAGE)
            .setMaxResults(3)
            .build()
        classifier = ImageClassifier.createFromOptions(this, options)

        picture = ImageView(this).apply { adjustViewBounds = true }
        result = TextView(this).apply { textSize = 20f }
        val choose = Button(this).apply {
            text = "Choose a picture"
            setOnClickListener {
                pick.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly))
            }
        }
        setContentView(LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            setPadding(32, 32, 32, 32)
            addView(choose)
            addView(result)
            addView(picture, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f))
        })

        // A sample digit ships with the app, so the first screen already shows a result.
        assets.open(SAMPLE_ASSET).use { classify(BitmapFactory.decodeStream(it)) }
    }

    private fun classify(bitmap: Bitmap) {
        picture.setImageBitmap(bitmap)
        val image = BitmapImageBuilder(bitmap.copy(Bitmap.Config.ARGB_8888, false)).build()
        val categories = classifier.classify(image).classificationResult().classifications()[0].categories()
        // Scores are the model's outputs (logits for keras-vit classifiers): compare, do not read as %.
        result.text = categories.joinToString("\n") { "${it.categoryName()}  (score ${"%.2f".format(it.score())})" }
    }

    override fun onDestroy() {
        classifier.close()
        super.onDestroy()
    }

    companion object {
        /** Copy outputs/demo/model_float32.tflite (or any keras-vit export) here; see README.md. */
        const val MODEL_ASSET = "model.tflite"
        const val SAMPLE_ASSET = "digit.png"
    }
}

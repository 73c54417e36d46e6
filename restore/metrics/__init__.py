"""Evaluation under the papers' MATLAB protocol: bicubic resize, luma, PSNR/SSIM, folder scoring."""
